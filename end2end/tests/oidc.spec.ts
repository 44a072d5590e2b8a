import * as path from 'node:path';
import { ARTIFACTS, expect, hydrated, test } from './fixtures';
import { Page } from '@playwright/test';
import { ADMIN_GROUPS_MANAGED, DASHBOARD, NAV_LOGOUT, NAV_USER, OIDC_LOGIN } from './ids';

// The test identity provider (oidc/server.mjs with oidc/fixture.json): alice is in `admins` and
// `users`, bob in `users`, carol in `others`. The hub allows `users` and makes `admins` admins.
const PROVIDER = /^http:\/\/127\.0\.0\.1:8766\//;

async function toProvider(page: Page) {
  await page.goto('/hub/login');
  await hydrated(page);
  await page.getByTestId(OIDC_LOGIN).click();
  await expect(page).toHaveURL(PROVIDER);
  await expect(page.getByRole('heading', { name: /Test identity provider/ })).toBeVisible();
}

async function providerSignIn(page: Page, name: string, password: string) {
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('alice (group admins) signs in at the provider and lands on the dashboard as an admin', async ({ page }) => {
  await toProvider(page);
  await page.screenshot({ path: path.join(ARTIFACTS, 'oidc-provider-login.png') });
  // A wrong password stays at the provider.
  await providerSignIn(page, 'alice', 'not-her-password');
  await expect(page.getByText('Invalid username or password.')).toBeVisible();
  await expect(page).toHaveURL(PROVIDER);

  await providerSignIn(page, 'alice', 'alice-oidc-password');
  await expect(page).toHaveURL(/\/hub\/home$/);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await expect(page.getByTestId(NAV_USER)).toHaveText('alice');
  await expect(page.getByRole('link', { name: 'Admin' })).toBeVisible();
  const me = await page.request.get('/hub/api/user');
  const body = await me.json();
  expect(body.admin).toBe(true);
  expect(body.groups).toEqual(['admins', 'users']);

  // The admin page shows the provider's groups, read-only.
  await page.goto('/hub/admin/groups');
  await hydrated(page);
  await expect(page.getByTestId(ADMIN_GROUPS_MANAGED)).toBeVisible();
  await expect(page.locator('tr[data-group="admins"]')).toContainText('alice');
  await expect(page.getByRole('button', { name: 'Save members' })).toHaveCount(0);

  // Logout ends the hub's session and the provider's.
  await page.goto('/hub/home');
  await hydrated(page);
  await page.getByTestId(NAV_LOGOUT).click();
  await expect(page).toHaveURL(PROVIDER);
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await expect(page).toHaveURL(/\/hub\/login$/);
  expect((await page.request.get('/hub/api/user', { failOnStatusCode: false })).status()).toBe(403);
  // Signing in again asks for the password again: the provider's session is gone too.
  await toProvider(page);
  await expect(page.getByLabel('Password')).toBeVisible();
});

test('bob (group users) signs in as a plain user', async ({ page }) => {
  await toProvider(page);
  await providerSignIn(page, 'bob', 'bob-oidc-password');
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await expect(page.getByTestId(NAV_USER)).toHaveText('bob');
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  expect((await page.request.get('/hub/admin', { failOnStatusCode: false })).status()).toBe(403);
});

test('carol (no allowed group) is refused with a clear message and gets no session', async ({ page }) => {
  await toProvider(page);
  await providerSignIn(page, 'carol', 'carol-oidc-password');
  await expect(page.getByRole('heading', { name: 'Sign-in failed' })).toBeVisible();
  await expect(page.getByTestId('oidc-error')).toContainText('carol is not allowed to use this hub');
  await page.screenshot({ path: path.join(ARTIFACTS, 'oidc-refused.png') });
  await page.goto('/hub/home');
  await expect(page).toHaveURL(/\/hub\/login\?next=/);
});
