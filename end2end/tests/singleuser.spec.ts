import { expect, hydrated, signIn, test } from './fixtures';
import { DASHBOARD, MY_SHARES, SHARE_LINK, SHARED_WITH_ME, SHARING } from './ids';

test("JupyterHub 6's single-user server: the hub signs the person in to it, and JupyterLab's hub menu leads back to the hub and logs out", async ({ page, context }) => {
  await signIn(page, 'erin', 'erin-password-1');
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await hydrated(page);
  await page.getByRole('radio', { name: /JupyterHub 6/ }).check();
  await page.getByLabel('Size').selectOption('small');
  await page.getByRole('button', { name: 'Start', exact: true }).click();

  // The progress page, then the lab: through the server's OAuth flow with the hub (no consent
  // page for one's own server).
  await page.waitForURL(/\/user\/erin\/lab/, { timeout: 120_000 });
  const notebookCard = page.locator('.jp-LauncherCard[data-category="Notebook"]').first();
  await expect(notebookCard).toBeVisible({ timeout: 60_000 });
  await notebookCard.click();
  await expect(page.getByText('Python 3 (ipykernel) | Idle')).toBeVisible({ timeout: 60_000 });
  const editor = page.locator('.jp-Notebook .jp-Cell .cm-content').first();
  await editor.click();
  await page.keyboard.type('1+1');
  await page.keyboard.press('Shift+Enter');
  await expect(page.locator('.jp-OutputArea-output').first()).toHaveText('2', { timeout: 60_000 });

  // File → Hub Control Panel opens the hub's dashboard.
  await page.getByRole('menuitem', { name: 'File' }).click();
  const [panel] = await Promise.all([
    context.waitForEvent('page'),
    page.getByRole('menuitem', { name: 'Hub Control Panel' }).click(),
  ]);
  await panel.waitForLoadState();
  await expect(panel).toHaveURL(/\/hub\/home/);
  await expect(panel.getByTestId(DASHBOARD)).toBeVisible();
  await panel.close();

  // File → Log Out ends the hub session: the sign-in page, and the dashboard needs signing in again.
  await page.getByRole('menuitem', { name: 'File' }).click();
  await page.getByRole('menuitem', { name: 'Log Out' }).click();
  await page.waitForURL(/\/hub\/login/, { timeout: 30_000 });
  await page.goto('/hub/home');
  await expect(page).toHaveURL(/\/hub\/login/);
});

test("Erin shares her running server with Dora from the dashboard; Dora opens it after consenting, and loses it when Erin revokes", async ({ browser }) => {
  const erin = await (await browser.newContext()).newPage();
  await signIn(erin, 'erin', 'erin-password-1');
  await hydrated(erin);
  const sharing = erin.getByTestId(SHARING);
  await sharing.getByLabel('Name').fill('dora');
  await sharing.getByRole('button', { name: 'Share', exact: true }).click();
  await expect(erin.getByTestId(MY_SHARES).locator('li[data-share="default:user:dora"]')).toBeVisible();
  // A link that expires, to send to someone.
  await sharing.getByRole('button', { name: 'Create link' }).click();
  await expect(erin.getByTestId(SHARE_LINK)).toContainText('/hub/accept-share?code=');

  const dora = await (await browser.newContext()).newPage();
  await signIn(dora, 'dora', 'dora-password-1');
  await hydrated(dora);
  await dora.getByTestId(SHARED_WITH_ME).getByRole('link', { name: /erin's default server/ }).click();
  // The consent page, then the lab (as Dora).
  await dora.getByTestId('oauth-consent').click();
  await dora.waitForURL(/\/user\/erin\/lab/, { timeout: 60_000 });
  // Erin's lab (her workspace: the notebook she left open), in Dora's browser.
  await expect(dora.getByRole('menuitem', { name: 'File' })).toBeVisible({ timeout: 60_000 });

  // Erin revokes; Dora's next visit is refused.
  await erin.goto('/hub/home');
  await hydrated(erin);
  await erin.getByTestId(MY_SHARES).locator('li[data-share="default:user:dora"]').getByRole('button', { name: 'Revoke' }).click();
  await expect(erin.getByTestId(MY_SHARES)).toHaveCount(0);
  const refused = await dora.goto('/user/erin/lab');
  expect(refused?.status()).toBe(403);
});
