import { ADMIN, expect, hydrated, signIn, test } from './fixtures';
import { ADMIN_ANNOUNCEMENTS, ADMIN_TAB_ANNOUNCEMENTS, ANNOUNCEMENTS, DASHBOARD, FORM_MESSAGE } from './ids';

test('an admin announces maintenance on the sign-in page, people see it signed out, and it comes down', async ({ page, browser }) => {
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await page.goto('/hub/admin');
  await hydrated(page);
  await page.getByTestId(ADMIN_TAB_ANNOUNCEMENTS).click();
  await expect(page).toHaveURL(/\/hub\/admin\/announcements$/);
  await hydrated(page);
  await page.getByLabel(/^Text/).fill('**Maintenance** on Friday from 18:00. <b>not bold</b>');
  await page.getByLabel('Shown on').selectOption('login');
  await page.getByLabel(/^Expires in/).fill('2');
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveText('Published.');
  await expect(page.getByTestId(ADMIN_ANNOUNCEMENTS)).toContainText('Sign-in page');

  // Someone signed out sees it on the sign-in page at once, rendered, the HTML as text.
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto('/hub/login');
  await hydrated(visitor);
  const notice = visitor.getByTestId(ANNOUNCEMENTS);
  await expect(notice.locator('strong')).toHaveText('Maintenance');
  await expect(notice).toContainText('<b>not bold</b>');
  await expect(notice.locator('b')).toHaveCount(0);

  // Taken down: the sign-in page is plain again.
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId(ADMIN_ANNOUNCEMENTS).getByRole('button', { name: 'Take down' }).click();
  await expect(page.getByTestId(FORM_MESSAGE)).toHaveText('Taken down.');
  await visitor.reload();
  await hydrated(visitor);
  await expect(visitor.getByTestId(ANNOUNCEMENTS)).toHaveCount(0);
  await visitor.close();
});
