// mailauth 4.x ships no type declarations: these cover the parts optin uses.

declare module 'mailauth/lib/dkim/sign.js' {
  export interface DkimSignatureData {
    signingDomain: string;
    selector: string;
    /** PEM text. */
    privateKey: string;
    /** 'rsa-sha256' or 'ed25519-sha256'. */
    algorithm?: string;
    canonicalization?: string;
  }
  export interface DkimSignOptions {
    canonicalization?: string;
    /** Colon-separated header field names. */
    headerList?: string;
    signTime?: Date;
    signatureData: DkimSignatureData[];
  }
  export interface DkimSignResult {
    /** The DKIM-Signature header lines to put in front of the message, CRLF-terminated. */
    signatures: string;
    errors: { selector?: string; signingDomain?: string; err: Error }[];
  }
  export function dkimSign(input: Buffer | string, options: DkimSignOptions): Promise<DkimSignResult>;
}
