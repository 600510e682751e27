import emailMisspelled, { all as knownProviders } from 'email-misspelled';
import mailchecker from 'mailchecker';
import { AppError } from '../../errors.js';
import type { DomainChecker } from '../../platform/mail/domainCheck.js';
import { parseAddress } from '../../platform/mail/address.js';

/**
 * The checks at the door, before anything is stored, in this order: a throwaway-inbox domain, a
 * likely typo of a big provider's domain, then (with CHECK_MX) a domain that cannot receive
 * mail. Each depends on the domain alone, so a refusal tells nothing about whether an address is
 * subscribed. An address that does not parse goes through: the signup itself answers
 * `400 invalid_email` for it.
 */
export type DoorCheck = (email: string, options: { acceptTypo: boolean }) => Promise<void>;

export interface DoorOptions {
  blockDisposable: boolean;
  /** The DNS check (CHECK_MX), or undefined when it is off. */
  domains?: DomainChecker;
  /** Counts each refusal by its code (for /metrics). */
  onRefusal?(code: DoorRefusalCode): void;
}

export type DoorRefusalCode = 'disposable_address' | 'address_typo' | 'undeliverable_domain';

/** mailchecker's list of throwaway-inbox domains (updated with the package). */
const DISPOSABLE = mailchecker.blacklist();

/** The domain or one of its parents is a throwaway-inbox domain (`x.mailinator.com` too). */
export function isDisposableDomain(domain: string): boolean {
  const labels = domain.split('.');
  for (let i = 0; i < labels.length - 1; i += 1) if (DISPOSABLE.has(labels.slice(i).join('.'))) return true;
  return false;
}

/**
 * The big providers' domains the typo check compares with: email-misspelled's full list, plus a
 * few it lacks. A domain on the list is never a typo.
 */
const PROVIDERS = [...new Set([...knownProviders, 'protonmail.com', 'proton.me', 'laposte.net', 'orange.fr', 'free.fr'])];
const PROVIDER_SET = new Set(PROVIDERS);
const misspelled = emailMisspelled({ domains: PROVIDERS, maxMisspelled: 2, lengthDiffMax: 2 });

/**
 * The provider's domain each domain most likely meant (null: none), kept per process: comparing
 * with the whole list costs a few hundred microseconds, which every signup would otherwise pay
 * (it halved the signup rate in `npm run bench`), and signups come from a few domains again and again.
 */
const typoOfDomain = new Map<string, string | null>();
const TYPO_CACHE_MAX = 10_000;

function likelyMeant(domain: string): string | null {
  const known = typoOfDomain.get(domain);
  if (known !== undefined) return known;
  const meant = PROVIDER_SET.has(domain) ? null : (misspelled(`x@${domain}`)[0]?.suggest ?? null);
  if (typoOfDomain.size >= TYPO_CACHE_MAX) typoOfDomain.delete(typoOfDomain.keys().next().value!);
  typoOfDomain.set(domain, meant);
  return meant;
}

/** The address with the provider's domain it most likely meant, or null when the domain looks intended. */
export function typoSuggestion(typed: string, domain: string): string | null {
  const meant = likelyMeant(domain);
  return meant === null ? null : `${typed.slice(0, typed.lastIndexOf('@'))}@${meant}`;
}

export function createDoorCheck(options: DoorOptions): DoorCheck {
  const refuse = (code: DoorRefusalCode, message: string, details?: Record<string, string>) => {
    options.onRefusal?.(code);
    return new AppError(400, code, message, details);
  };
  return async (email, { acceptTypo }) => {
    const typed = email.trim();
    const parsed = parseAddress(typed);
    if (!parsed.ok) return;
    const { domain } = parsed.address;
    if (options.blockDisposable && isDisposableDomain(domain)) {
      throw refuse('disposable_address', 'This address is at a throwaway-inbox service. Please use an address you keep.');
    }
    if (!acceptTypo) {
      const suggestion = typoSuggestion(typed, domain);
      if (suggestion) throw refuse('address_typo', `Did you mean ${suggestion}?`, { suggestion });
    }
    if (options.domains && (await options.domains.check(domain)) === 'undeliverable') {
      throw refuse('undeliverable_domain', 'The domain of this address cannot receive email. Check it for typos.');
    }
  };
}
