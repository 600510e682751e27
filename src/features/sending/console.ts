import { Router } from 'express';
import type { ConsoleContext } from '../../app.js';
import { sendingSetupPage } from './pages.js';
import { checkSendingSetup, dnsTxtResolver } from './service.js';

/** /admin/sending: the DNS records SPF, DKIM and DMARC need, and what DNS answers now. */
export function consoleRoutes({ deps, pageSession, sendPage }: ConsoleContext): Router {
  const router = Router();
  const { config } = deps;
  const resolveTxt = dnsTxtResolver(config.dnsServers);
  router.get('/sending', async (_req, res) => {
    sendPage(res, sendingSetupPage(await checkSendingSetup(config, resolveTxt), pageSession(res)));
  });
  return router;
}
