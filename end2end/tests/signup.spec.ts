import * as path from 'node:path';
import { ADMIN, ARTIFACTS, expect, hydrated, signIn, test } from './fixtures';
import { ADMIN_USERS, DASHBOARD, FORM_MESSAGE, LOGIN_ERROR, NAV_USER } from './ids';

test('a sign-up waits for approval, the admin approves it, then the new user signs in but cannot open the admin page', async ({ browser }) => {
  const name = `carol${Date.now() % 100000}`;
  const password = 'carol-password-1';

  // Carol asks for an account.
  const carol = await browser.newPage();
  await carol.goto('/hub/login');
  await hydrated(carol);
  await carol.getByRole('link', { name: 'Request one' }).click();
  await expect(carol).toHaveURL(/\/hub\/signup/);
  await hydrated(carol);
  await carol.getByLabel('User name').fill(name);
  await carol.getByLabel('Password', { exact: true }).fill(password);
  await carol.getByLabel('Password again').fill(password);
  await carol.getByRole('button', { name: 'Request account' }).click();
  await expect(carol.getByTestId(FORM_MESSAGE)).toContainText('An administrator will approve your account');

  // Before approval she cannot sign in.
  await signIn(carol, name, password);
  await expect(carol.getByTestId(LOGIN_ERROR)).toContainText("waiting for an administrator's approval");

  // The admin approves her on the admin page.
  const admin = await browser.newPage();
  await signIn(admin, ADMIN.name, ADMIN.password);
  await expect(admin.getByTestId(DASHBOARD)).toBeVisible();
  await admin.getByRole('link', { name: 'Admin' }).click();
  await expect(admin).toHaveURL(/\/hub\/admin/);
  await hydrated(admin);
  const row = admin.getByTestId(ADMIN_USERS).locator(`tr[data-user="${name}"]`);
  await expect(row).toContainText('pending approval');
  await admin.screenshot({ path: path.join(ARTIFACTS, 'admin.png'), fullPage: true });
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(row).not.toContainText('pending approval');
  await expect(row.getByRole('button', { name: 'Approve' })).toHaveCount(0);

  // Now she signs in, and the admin page is refused to her.
  await signIn(carol, name, password);
  await expect(carol.getByTestId(NAV_USER)).toHaveText(name);
  await expect(carol.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  const response = await carol.goto('/hub/admin');
  expect(response?.status()).toBe(403);
  await expect(carol.getByRole('heading', { name: 'Forbidden' })).toBeVisible();
});
