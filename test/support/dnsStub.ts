import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

/** TXT records by name: each record is one string, or its strings as DNS carries them (255 bytes each at most). */
export type TxtRecords = Record<string, (string | string[])[]>;

export interface DnsStub {
  /** For DNS_SERVERS: "127.0.0.1:port". */
  server: string;
  /** The same records for an in-process resolver, as mailauth takes it: (name, type) → TXT strings. */
  resolve(name: string, type: string): Promise<string[][]>;
  /** Names asked for, in order. */
  queries: string[];
  close(): Promise<void>;
}

const TXT = 16;
const NXDOMAIN = 3;

/** Splits a string into DNS character-strings of at most 255 bytes. */
function chunks(record: string | string[]): string[] {
  if (Array.isArray(record)) return record;
  return record.match(/.{1,255}/gs) ?? [''];
}

/**
 * A DNS server on 127.0.0.1 (UDP) that answers TXT queries from a fixed table, NXDOMAIN for
 * names it does not know: the sending check asks it through node:dns, nothing leaves the machine.
 */
export async function startDnsStub(records: TxtRecords): Promise<DnsStub> {
  const table = new Map(Object.entries(records).map(([name, values]) => [name.toLowerCase(), values.map(chunks)]));
  const queries: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    const labels: string[] = [];
    let offset = 12;
    while (offset < query.length && query[offset]! > 0) {
      const length = query[offset]!;
      labels.push(query.toString('latin1', offset + 1, offset + 1 + length));
      offset += length + 1;
    }
    const questionEnd = offset + 5;
    const type = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    queries.push(name);
    const found = table.get(name);
    const answers = found && type === TXT ? found : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0);
    // QR, AA, RA, the query's RD; NXDOMAIN for an unknown name, NOERROR with no answer for another type.
    header.writeUInt16BE(0x8000 | 0x0400 | 0x0080 | (query.readUInt16BE(2) & 0x0100) | (found ? 0 : NXDOMAIN), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const parts = [header, query.subarray(12, questionEnd)];
    for (const record of answers) {
      const data = Buffer.concat(record.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      fixed.writeUInt16BE(TXT, 2);
      fixed.writeUInt16BE(1, 4); // class IN
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(data.length, 10);
      parts.push(fixed, data);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    async resolve(name, type) {
      const found = table.get(name.toLowerCase());
      if (!found) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      if (type !== 'TXT') throw Object.assign(new Error(`query ENODATA ${name}`), { code: 'ENODATA' });
      return found;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
