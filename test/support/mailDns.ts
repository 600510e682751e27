import dns2 from 'dns2';

const { Packet } = dns2;
/** DNS's "no such name" (dns2's types leave RCODE out). */
const NXDOMAIN = 3;

/** What one name answers: its MX, A and AAAA records; NXDOMAIN; or nothing at all (a server that never replies). */
export interface Zone {
  mx?: { exchange: string; priority: number }[];
  a?: string[];
  aaaa?: string[];
  nxdomain?: true;
  silent?: true;
}

export interface MailDns {
  /** For DNS_SERVERS: "127.0.0.1:port". */
  server: string;
  /** Names asked for, with their type ("gmail.com MX"), in order. */
  queries: string[];
  close(): Promise<void>;
}

/**
 * A DNS server on 127.0.0.1 (UDP) answering MX, A and AAAA queries from a fixed table, for the
 * signup's domain check: NOERROR with no answer for a known name without such records, NXDOMAIN
 * for an unknown name or one marked so, no reply at all for one marked `silent`.
 */
export async function startMailDns(zones: Record<string, Zone>): Promise<MailDns> {
  const table = new Map(Object.entries(zones).map(([name, zone]) => [name.toLowerCase(), zone]));
  const queries: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = question!.name.toLowerCase();
      const type = question!.type;
      queries.push(`${name} ${type === Packet.TYPE.MX ? 'MX' : type === Packet.TYPE.A ? 'A' : type === Packet.TYPE.AAAA ? 'AAAA' : type}`);
      const zone = table.get(name);
      if (zone?.silent) return;
      if (!zone || zone.nxdomain) {
        response.header.rcode = NXDOMAIN;
        send(response);
        return;
      }
      const answer = { name: question!.name, class: Packet.CLASS.IN, ttl: 60 };
      // dns2 encodes plain records; its types ask for its own Resource class.
      const answers = response.answers as unknown as object[];
      if (type === Packet.TYPE.MX) for (const mx of zone.mx ?? []) answers.push({ ...answer, type, ...mx });
      if (type === Packet.TYPE.A) for (const address of zone.a ?? []) answers.push({ ...answer, type, address });
      if (type === Packet.TYPE.AAAA) for (const address of zone.aaaa ?? []) answers.push({ ...answer, type, address });
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    server: `127.0.0.1:${addresses.udp!.port}`,
    queries,
    close: () => server.close(),
  };
}
