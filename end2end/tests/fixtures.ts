import { test as base, expect, Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

export const ADMIN = { name: 'admin', password: 'e2e-admin-password' };
export const SESSION_COOKIE = 'ganymede-session';
export const ARTIFACTS = path.join(__dirname, '..', 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

/** Waits until the WASM bundle has hydrated the page (the frontend marks <body>). */
export async function hydrated(page: Page) {
  await page.waitForSelector('body[data-hydrated="true"]');
}

/** Signs in through the login form, as a person would. */
export async function signIn(page: Page, name: string, password: string) {
  await page.goto('/hub/login');
  await hydrated(page);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export const test = base;
export { expect };
