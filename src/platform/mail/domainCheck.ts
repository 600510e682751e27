import { Resolver } from 'node:dns/promises';

/**
 * Whether a domain can receive mail, as DNS answers: `undeliverable` only on a definite answer
 * (a null MX, RFC 7505; NXDOMAIN; neither MX nor A nor AAAA records), `unknown` when DNS did not
 * answer definitely (a time-out, SERVFAIL, a refused connection): then the address goes through.
 */
export type DomainVerdict = 'deliverable' | 'undeliverable' | 'unknown';

export interface DomainChecker {
  check(domain: string): Promise<DomainVerdict>;
}

export interface DomainCheckerOptions {
  /** DNS_SERVERS ("ip" or "ip:port"); empty: the system's resolvers. */
  servers: readonly string[];
  /** Each look-up's limit. */
  timeoutMs?: number;
  /** A look-up that gave no definite answer (for the log and the metrics). */
  onFailure?(domain: string, code: string): void;
  now?(): number;
}

/** Definite answers are kept an hour; failures a minute, so a resolver's hiccup is retried soon. */
const DEFINITE_TTL_MS = 60 * 60_000;
const FAILURE_TTL_MS = 60_000;
/** Domains remembered at most (the oldest go first): signups come from a long tail of domains. */
const CACHE_MAX = 10_000;

/** The answers that say "this name has no such records" rather than "DNS did not answer". */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

export function domainChecker(options: DomainCheckerOptions): DomainChecker {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 1000, tries: 1 });
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  const now = options.now ?? Date.now;
  const cache = new Map<string, { verdict: DomainVerdict; until: number }>();
  const inFlight = new Map<string, Promise<DomainVerdict>>();

  /** The records of one type, or the error code that says why there are none. */
  const lookUp = async <T>(query: () => Promise<T[]>): Promise<T[] | string> => {
    try {
      return await query();
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    }
  };

  const decide = async (domain: string): Promise<{ verdict: DomainVerdict; failure?: string }> => {
    const mx = await lookUp(() => resolver.resolveMx(domain));
    if (mx === 'ENOTFOUND') return { verdict: 'undeliverable' };
    if (Array.isArray(mx) && mx.length > 0) {
      // RFC 7505: one MX of preference 0 naming the root ("."), which Node reads as an empty exchange.
      const nullMx = mx.every((record) => record.exchange === '' || record.exchange === '.');
      return { verdict: nullMx ? 'undeliverable' : 'deliverable' };
    }
    if (typeof mx === 'string' && !NO_RECORDS.has(mx)) return { verdict: 'unknown', failure: mx };
    // No MX: mail goes to the domain's own address (RFC 5321 §5.1), if it has one.
    const [a, aaaa] = await Promise.all([lookUp(() => resolver.resolve4(domain)), lookUp(() => resolver.resolve6(domain))]);
    if ((Array.isArray(a) && a.length > 0) || (Array.isArray(aaaa) && aaaa.length > 0)) return { verdict: 'deliverable' };
    const failure = [a, aaaa].find((answer): answer is string => typeof answer === 'string' && !NO_RECORDS.has(answer));
    return failure ? { verdict: 'unknown', failure } : { verdict: 'undeliverable' };
  };

  return {
    async check(domain) {
      const known = cache.get(domain);
      if (known && known.until > now()) return known.verdict;
      const pending = inFlight.get(domain);
      if (pending) return pending;
      const asking = decide(domain).then(({ verdict, failure }) => {
        if (failure) options.onFailure?.(domain, failure);
        cache.delete(domain);
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
        cache.set(domain, { verdict, until: now() + (verdict === 'unknown' ? FAILURE_TTL_MS : DEFINITE_TTL_MS) });
        return verdict;
      });
      inFlight.set(domain, asking);
      try {
        return await asking;
      } finally {
        inFlight.delete(domain);
      }
    },
  };
}
