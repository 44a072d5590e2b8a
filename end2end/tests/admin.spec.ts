import * as path from 'node:path';
import { ADMIN, ARTIFACTS, expect, hydrated, signIn, test } from './fixtures';
import {
  ADMIN_ADD_USERS,
  ADMIN_BADGE,
  ADMIN_LOG,
  ADMIN_NEW_USERS,
  ADMIN_PAGE_SUMMARY,
  ADMIN_SEARCH,
  ADMIN_SORT_NAME,
  ADMIN_TAB_LOG,
  ADMIN_USERS,
  DASHBOARD,
  FORM_MESSAGE,
} from './ids';

test('an admin adds users, makes one admin, searches, sorts, runs a server for a user and deletes a user', async ({
  page,
  browser,
}) => {
  // Destructive actions ask first; this admin says yes.
  page.on('dialog', (dialog) => dialog.accept());
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await page.getByRole('link', { name: 'Admin' }).click();
  await expect(page).toHaveURL(/\/hub\/admin$/);
  await hydrated(page);
  const table = page.getByTestId(ADMIN_USERS);
  const row = (name: string) => table.locator(`tr[data-user="${name}"]`);

  // Add two users at once.
  await page.locator('summary', { hasText: 'Add users' }).click();
  await page.getByTestId(ADMIN_NEW_USERS).fill('carla\ndmitri');
  await page.getByTestId(ADMIN_ADD_USERS).click();
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveText('Added carla, dmitri.');
  await expect(row('carla')).toBeVisible();
  await expect(row('dmitri')).toBeVisible();

  // Adding one again is refused with the API's message, not swallowed.
  await page.getByTestId(ADMIN_NEW_USERS).fill('carla');
  await page.getByTestId(ADMIN_ADD_USERS).click();
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveText('Already exist: carla.');
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveAttribute('role', 'alert');

  // Make carla an admin.
  await expect(row('carla').getByTestId(ADMIN_BADGE)).toHaveCount(0);
  await row('carla').getByRole('button', { name: 'Make admin' }).click();
  await expect(row('carla').getByTestId(ADMIN_BADGE)).toBeVisible();
  await expect(row('carla').getByRole('button', { name: 'Revoke admin' })).toBeVisible();

  // Give carla a password; she can sign in with it.
  await row('carla').getByRole('button', { name: 'Reset password' }).click();
  await page.getByLabel('New password for carla').fill('carla-new-password');
  await page.getByRole('button', { name: 'Set password', exact: true }).click();
  await expect(page.getByTestId(FORM_MESSAGE)).toContainText('Set a new password for carla');
  await expect(page.getByLabel('New password for carla')).toHaveCount(0);
  const carla = await browser.newPage();
  await signIn(carla, 'carla', 'carla-new-password');
  await expect(carla.getByTestId(DASHBOARD)).toBeVisible();
  await expect(carla.getByRole('link', { name: 'Admin' })).toBeVisible();
  await carla.close();

  // Search on the server: only matching names come back.
  await page.getByTestId(ADMIN_SEARCH).fill('dmit');
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(row('dmitri')).toBeVisible();
  await expect(page.getByTestId(ADMIN_PAGE_SUMMARY)).toHaveText('1–1 of 1');
  await page.getByTestId(ADMIN_SEARCH).fill('');
  await expect(row('carla')).toBeVisible();

  // Sort by name, then reversed.
  const names = async () => table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-user') ?? ''));
  const ascending = await names();
  expect(ascending.length).toBeGreaterThanOrEqual(4);
  expect(ascending).toEqual([...ascending].sort());
  await page.getByTestId(ADMIN_SORT_NAME).click();
  await expect(page.getByTestId(ADMIN_SORT_NAME)).toHaveText('Name ▼');
  await expect.poll(names).toEqual([...ascending].sort().reverse());

  // Start dmitri's server from the page, wait for it to run, stop it.
  await row('dmitri').getByRole('button', { name: 'Start server' }).click();
  const server = row('dmitri').locator('li[data-server=""]');
  await expect(server).toHaveAttribute('data-status', /pending|running/);
  await expect(server).toHaveAttribute('data-status', 'running', { timeout: 120_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'admin-users.png'), fullPage: true });
  await server.getByRole('button', { name: 'Stop' }).click();
  await expect(server).toHaveAttribute('data-status', 'stopped', { timeout: 60_000 });

  // Delete dmitri (after confirming).
  await row('dmitri').getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(row('dmitri')).toHaveCount(0);
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveText('Deleted dmitri.');

  // The audit log names who did what.
  await page.getByTestId(ADMIN_TAB_LOG).click();
  await expect(page).toHaveURL(/\/hub\/admin\/log$/);
  const log = page.getByTestId(ADMIN_LOG);
  await expect(log.locator('tr[data-action="user.delete"]', { hasText: 'dmitri' })).toContainText(ADMIN.name);
  await expect(log.locator('tr[data-action="user.set_admin"]', { hasText: 'carla' })).toBeVisible();
  await expect(log.locator('tr[data-action="server.start"]', { hasText: 'dmitri' })).toBeVisible();
  await page.screenshot({ path: path.join(ARTIFACTS, 'admin-log.png'), fullPage: true });
});

test('a plain user is refused the admin pages', async ({ page }) => {
  await signIn(page, 'dora', 'dora-password-1');
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  for (const url of ['/hub/admin', '/hub/admin/groups', '/hub/admin/log']) {
    const response = await page.goto(url);
    expect(response?.status()).toBe(403);
    await expect(page.getByText('This page is for administrators.')).toBeVisible();
  }
  // The server functions behind the page refuse too.
  const direct = await page.request.post('/hub/fn/admin_users', {
    form: { search: '', sort: 'name', active_only: 'false', page: '0', page_size: '50' },
    failOnStatusCode: false,
  });
  expect(direct.status()).toBe(403);
});
