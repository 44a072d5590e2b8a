import * as path from 'node:path';
import { ADMIN, ARTIFACTS, SESSION_COOKIE, expect, hydrated, signIn, test } from './fixtures';
import { DASHBOARD, LOGIN_ERROR, NAV_USER } from './ids';

test('a person is sent to sign in, signs in as the admin, sees the dashboard and signs out', async ({ page, context }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/hub\/login\?next=%2Fhub%2Fhome|\/hub\/login\?next=\/hub\/home/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await hydrated(page);
  await page.screenshot({ path: path.join(ARTIFACTS, 'login.png'), fullPage: true });

  await page.getByLabel('User name').fill(ADMIN.name);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page).toHaveURL(/\/hub\/home$/);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await expect(page.getByRole('heading', { name: `Welcome, ${ADMIN.name}` })).toBeVisible();
  await expect(page.getByTestId(NAV_USER)).toHaveText(ADMIN.name);
  await expect(page.getByRole('link', { name: 'Admin' })).toBeVisible();
  const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Lax');
  await hydrated(page);
  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/hub\/login/);
  expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE && c.value !== '')).toBeUndefined();

  // The old session is gone: the dashboard sends us back to sign in.
  await page.goto('/hub/home');
  await expect(page).toHaveURL(/\/hub\/login/);
});

test('a wrong password shows an error and starts no session', async ({ page, context }) => {
  await signIn(page, ADMIN.name, 'not-the-password');
  await expect(page.getByTestId(LOGIN_ERROR)).toHaveText('Invalid user name or password.');
  await expect(page).toHaveURL(/\/hub\/login/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'login-error.png'), fullPage: true });
  expect((await context.cookies()).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
  await page.goto('/hub/home');
  await expect(page).toHaveURL(/\/hub\/login/);
});
