/**
 * Pods on conmand's API (chapter 04's api.ts, extended with registerRoutes), as podman's
 * /libpod/pods endpoints:
 *
 *   GET    /pods                       list
 *   POST   /pods                       create (JSON body: pod-requests.ts)   → 201 {"id","name"}
 *   GET    /pods/REF                   inspect
 *   POST   /pods/REF/start
 *   POST   /pods/REF/stop?t=SECONDS
 *   DELETE /pods/REF?force=1
 *   GET    /pods/REF/stats
 *
 * The command line's side is pod-client.ts.
 */
import { flag, numberParam, registerRoutes, sendJson } from '#lower/04-manager/api.ts';
import { ManagerError } from '#lower/04-manager/errors.ts';
import type { Manager } from '#lower/04-manager/manager.ts';
import type { Pods } from './pods.ts';

/** The manager's pods (its PodProvider is a Pods: with-pods.ts registers it). */
function podsOf(manager: Manager): Pods {
  if (!manager.podProvider) throw new ManagerError(404, 'this conmand has no pods (chapter 07\'s conmand has them)');
  return manager.podProvider as Pods;
}

registerRoutes([
  { method: 'GET', pattern: /^\/pods$/, handle: async (m, _match, _q, _b, res) => sendJson(res, 200, await podsOf(m).list()) },
  { method: 'POST', pattern: /^\/pods$/, handle: async (m, _match, _q, body, res) => sendJson(res, 201, await podsOf(m).create(await body())) },
  { method: 'GET', pattern: /^\/pods\/([^/]+)$/, handle: async (m, [ref], _q, _b, res) => sendJson(res, 200, await podsOf(m).inspect(ref)) },
  { method: 'POST', pattern: /^\/pods\/([^/]+)\/start$/, handle: async (m, [ref], _q, _b, res) => sendJson(res, 200, await podsOf(m).start(ref)) },
  { method: 'POST', pattern: /^\/pods\/([^/]+)\/stop$/, query: ['t'], handle: async (m, [ref], q, _b, res) => sendJson(res, 200, await podsOf(m).stop(ref, numberParam(q, 't'))) },
  { method: 'DELETE', pattern: /^\/pods\/([^/]+)$/, query: ['force'], handle: async (m, [ref], q, _b, res) => (await podsOf(m).remove(ref, flag(q, 'force')), sendJson(res, 200, {})) },
  { method: 'GET', pattern: /^\/pods\/([^/]+)\/stats$/, handle: async (m, [ref], _q, _b, res) => sendJson(res, 200, await podsOf(m).stats(ref)) },
]);
