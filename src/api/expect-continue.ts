/**
 * `Expect: 100-continue` (curl sends it for bodies over 1 MB; careful clients for every
 * upload): the request goes to the routes as usual, but "100 Continue" is sent only when
 * the body would be accepted. Node's default answers 100 Continue at once, so a client
 * would start sending a body that is about to be refused, and the refusal (413 or 401 with
 * `Connection: close`) would race with the upload — the client often sees only a reset
 * connection instead of the reason.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { TokenCheck } from './auth.js';

export interface ContinuePolicy {
  /** The largest body the route at this URL accepts. */
  readonly limitFor: (url: string) => number;
  readonly tokenCheck?: TokenCheck;
}

export function answerExpectContinue(app: FastifyInstance, policy: ContinuePolicy): void {
  app.server.on('checkContinue', (request: IncomingMessage, response) => {
    if (bodyWouldBeAccepted(request, policy)) response.writeContinue();
    // Without "100 Continue" the client waits; the route answers with its refusal.
    app.server.emit('request', request, response);
  });
}

function bodyWouldBeAccepted(request: IncomingMessage, policy: ContinuePolicy): boolean {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > policy.limitFor(request.url ?? '')) return false;
  if (policy.tokenCheck === undefined) return true;
  try {
    policy.tokenCheck(request.headers.authorization);
    return true;
  } catch {
    return false;
  }
}
