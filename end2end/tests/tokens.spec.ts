import * as path from 'node:path';
import { ADMIN, ARTIFACTS, expect, hydrated, signIn, test } from './fixtures';
import { DASHBOARD, NEW_TOKEN, TOKENS } from './ids';

test('a person creates an API token, uses it with the REST API, and revokes it', async ({ page }) => {
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await page.getByRole('link', { name: 'Tokens' }).click();
  await expect(page).toHaveURL(/\/hub\/token$/);
  await hydrated(page);

  await page.getByLabel('Note').fill('e2e script');
  await page.getByLabel('Expires').selectOption('86400');
  await page.getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByTestId(NEW_TOKEN);
  await expect(shown).toBeVisible();
  const token = (await shown.textContent())?.trim() ?? '';
  expect(token.length).toBeGreaterThan(30);
  const row = page.getByTestId(TOKENS).locator('tr', { hasText: 'e2e script' });
  await expect(row).toBeVisible();
  await page.screenshot({ path: path.join(ARTIFACTS, 'tokens.png'), fullPage: true });

  // The token works on its own, without the browser's session.
  const api = await page.request.get('/hub/api/user', {
    headers: { Authorization: `token ${token}` },
    failOnStatusCode: false,
  });
  expect(api.status()).toBe(200);
  expect((await api.json()).name).toBe(ADMIN.name);

  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toHaveCount(0);
  const revoked = await page.request.get('/hub/api/user', {
    headers: { Authorization: `token ${token}` },
    failOnStatusCode: false,
  });
  expect(revoked.status()).toBe(403);
});
