import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isSameOrParentDomain, senderDomain } from './sender.js';

export const DKIM_KEY_TYPES = ['rsa', 'ed25519'] as const;
export type DkimKeyType = (typeof DKIM_KEY_TYPES)[number];

export interface DkimKey {
  selector: string;
  type: DkimKeyType;
  privateKey: KeyObject;
}

/** One domain, one or more keys: every message carries one signature per key (RSA + Ed25519 = dual signing). */
export interface DkimConfig {
  domain: string;
  keys: DkimKey[];
}

/** Below this, receivers treat an RSA signature as no signature at all (RFC 8301). */
const MIN_RSA_BITS = 1024;
const GENERATED_RSA_BITS = 2048;

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`, 'i');
const SELECTOR = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'i');

export const isDkimDomain = (text: string) => DOMAIN_NAME.test(text) && text.length <= 253;
export const isDkimSelector = (text: string) => SELECTOR.test(text) && text.length <= 63;

/** The private keys in PEM text: one or more blocks, as in a key file or an environment variable. */
export function pemBlocks(text: string): string[] {
  // An environment variable often arrives on one line with "\n" written out.
  const normalised = text.includes('\n') ? text : text.replaceAll('\\n', '\n');
  return normalised.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
}

/** A DKIM key from its PEM text; throws an Error whose message says what is wrong with it. */
export function dkimKey(selector: string, pem: string): DkimKey {
  if (/ENCRYPTED/.test(pem)) throw new Error('the key is encrypted: give it without a passphrase');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('not a readable PEM private key');
  }
  const type = privateKey.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ed25519') throw new Error(`a key of type ${type ?? 'unknown'}: DKIM takes rsa or ed25519 keys`);
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (type === 'rsa' && bits < MIN_RSA_BITS)
    throw new Error(`an RSA key of ${bits} bits: receivers ignore signatures under ${MIN_RSA_BITS} (use ${GENERATED_RSA_BITS})`);
  return { selector, type, privateKey };
}

/** The DNS name of a key's TXT record. */
export const dkimRecordName = (selector: string, domain: string) => `${selector}._domainkey.${domain}`;

/** The TXT record to publish for a key: RSA keys as SubjectPublicKeyInfo, Ed25519 as the bare 32 bytes (RFC 8463). */
export function dkimRecordValue(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType === 'ed25519') return `v=DKIM1; k=ed25519; p=${der.subarray(-32).toString('base64')}`;
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

/** A new private key in PEM (PKCS#8): RSA-2048 or Ed25519. */
export function generateDkimKey(type: DkimKeyType): string {
  const { privateKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: GENERATED_RSA_BITS }) : generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * What a production start should warn about: no signature, a signature that does not align
 * with MAIL_FROM (so DMARC ignores it), or no RSA key (not every receiver checks Ed25519).
 */
export function dkimWarnings(dkim: DkimConfig | undefined, mailFrom: string): string[] {
  if (!dkim)
    return [
      'DKIM is not configured: mail goes out unsigned, which big mailbox providers refuse or file as spam. Set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE (npm run admin -- dkim generate).',
    ];
  const warnings: string[] = [];
  const fromDomain = senderDomain(mailFrom);
  if (!fromDomain || !isSameOrParentDomain(fromDomain, dkim.domain)) {
    warnings.push(
      `DKIM_DOMAIN ${dkim.domain} is neither the MAIL_FROM domain (${fromDomain ?? 'none'}) nor a parent of it: the signature does not align, so DMARC cannot pass on it.`,
    );
  }
  if (!dkim.keys.some((key) => key.type === 'rsa')) {
    warnings.push(
      'DKIM has no RSA key: receivers that do not check Ed25519 signatures see the mail as unsigned. Sign with an RSA key beside it.',
    );
  }
  return warnings;
}
