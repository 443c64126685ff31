/**
 * A registry token server for the checks, as Docker Hub's auth.docker.io is one: a registry
 * in token mode (startRegistry(..., { token })) sends clients here with a challenge; this
 * server checks their basic credentials and answers a JWT, signed by a key whose certificate
 * the registry trusts, granting the scope asked for.
 */
import { execFile } from 'node:child_process';
import { createSign, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TokenServer {
  /** The certificate the registry must trust (its rootcertbundle). */
  cert: string;
  /** Every request seen: who, for what, and the answer. */
  seen: { user?: string; scope?: string; status: number }[];
  /** Its token endpoint, the registry's realm. */
  realm: string;
  close(): Promise<void>;
}

/**
 * A token server written for the check (what Docker Hub's auth.docker.io does): it checks
 * basic credentials and answers a JWT, signed by a key whose certificate the registry trusts,
 * granting the scope asked for. Every request it sees is kept.
 */
export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  fs.mkdirSync(dir, { recursive: true });
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=conman-test-token']);
  const key = fs.readFileSync(`${dir}/key.pem`, 'utf8');
  const cert = fs.readFileSync(`${dir}/cert.pem`, 'utf8');
  const der = new X509Certificate(cert).raw.toString('base64');
  const seen: { user?: string; scope?: string; status: number }[] = [];
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://token');
    const [scheme, encoded] = (request.headers.authorization ?? '').split(' ');
    const [user, password] = scheme === 'Basic' ? Buffer.from(encoded, 'base64').toString().split(':') : [];
    const scope = url.searchParams.get('scope') ?? '';
    const ok = user !== undefined && users[user] === password;
    seen.push({ user, scope, status: ok ? 200 : 401 });
    if (!ok) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const [type, name, actions] = scope.split(':');
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'conman-test', sub: user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access: [{ type, name, actions: actions.split(',') }] };
    const unsigned = `${b64({ alg: 'RS256', typ: 'JWT', x5c: [der] })}.${b64(claims)}`;
    const signature = createSign('RSA-SHA256').update(unsigned).sign(key).toString('base64url');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${unsigned}.${signature}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { cert, seen, realm: `http://127.0.0.1:${port}/token`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

