/**
 * ALLOWED_ORIGINS: which browser origins may call the API and open sockets.
 * A request with no Origin (curl, servers, the SDK in Node) is always allowed;
 * a page served by this server (same host) is always allowed.
 */
export function originPolicy(allowed: string[]): (origin: string | undefined, host: string | undefined) => boolean {
  const any = allowed.includes('*');
  const set = new Set(allowed.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (origin, host) => {
    if (origin === undefined) return true;
    if (any || set.has(origin.toLowerCase())) return true;
    try {
      return host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase();
    } catch {
      return false;
    }
  };
}
