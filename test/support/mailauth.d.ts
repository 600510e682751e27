// mailauth 4.x ships no type declarations: the part of it the tests use.
declare module 'mailauth' {
  export interface DkimResult {
    signingDomain: string;
    selector: string;
    algo: string;
    status: { result: string; comment?: string; aligned?: string | false };
  }
  export interface AuthenticateResult {
    dkim: { results: DkimResult[] };
    dmarc: { status: { result: string } } | false;
    /** The Authentication-Results header (and Received-SPF) a receiver would add. */
    headers: string;
  }
  export function authenticate(
    input: Buffer | string,
    options: {
      resolver: (name: string, type: string) => Promise<unknown>;
      ip: string;
      helo: string;
      sender: string;
      mta: string;
      disableArc?: boolean;
      disableBimi?: boolean;
    },
  ): Promise<AuthenticateResult>;
}

declare module 'mailauth/lib/dkim/verify.js' {
  import type { DkimResult } from 'mailauth';
  export function dkimVerify(
    input: Buffer | string,
    options: { resolver: (name: string, type: string) => Promise<unknown> },
  ): Promise<{ results: DkimResult[] }>;
}
