import { ADMIN, expect, hydrated, signIn, test } from './fixtures';
import { ADMIN_OVERVIEW, ADMIN_TAB_OVERVIEW, DASHBOARD } from './ids';

test('an admin looks at the overview charts of the last day and week', async ({ page }) => {
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await page.goto('/hub/admin');
  await hydrated(page);
  await page.getByTestId(ADMIN_TAB_OVERVIEW).click();
  await expect(page).toHaveURL(/\/hub\/admin\/overview$/);
  await hydrated(page);
  const charts = page.getByTestId(ADMIN_OVERVIEW);
  // The hub sampled as it started: each hub-wide figure has its chart, drawn as SVG.
  for (const metric of ['running_servers', 'active_users', 'queue_length', 'queue_wait_seconds', 'spawn_seconds']) {
    await expect(charts.locator(`figure[data-metric="${metric}"] svg`)).toBeVisible();
  }
  await expect(charts.locator('figure[data-metric="running_servers"] figcaption')).toContainText(/now \d+/);
  await expect(charts.locator('figure[data-metric="running_servers"] polyline')).toHaveCount(1);
  await page.getByRole('button', { name: 'Last 7 days' }).click();
  await expect(page.getByRole('button', { name: 'Last 7 days' })).toHaveAttribute('aria-pressed', 'true');
  await expect(charts.locator('figure[data-metric="running_servers"] svg')).toBeVisible();
});
