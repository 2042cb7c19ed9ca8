/**
 * The shapes of IKE and Child SAs as Pavise reports them (`pavise ipsec sas --json`, the API's
 * `/v1/packages/{p}/ipsec`, the console's SA table). Types only and no imports, so the browser
 * build of the console (tsconfig.console.json) can name them without reaching Node code.
 */

/**
 * Traffic counters of one Child SA. The drop counters come from a datapath that checks ESP
 * itself (the user-space one: EspSaCounters in src/esp/core/esp-engine.ts); they are absent
 * where the datapath does not count them (RecordingDatapath, a kernel).
 */
export interface SaCounters {
  bytesIn: number;
  packetsIn: number;
  bytesOut: number;
  packetsOut: number;
  /** Packets seen before, or older than the replay window (RFC 4303 §3.4.3). */
  replayDrops?: number;
  /** ICV or tag wrong, or too short to carry one (RFC 4303 §3.4.4). */
  integrityFailures?: number;
  /** Authentic packets outside the SA's selectors (RFC 4301 §5.2). */
  policyDrops?: number;
  /** Packets refused because the SA had passed its hard lifetime. */
  expiredDrops?: number;
  /** Dummy packets (next header 59, RFC 4303 §2.6), authentic and dropped. */
  dummyPackets?: number;
  /** Authentic packets with bad padding or a bad inner length. */
  invalidPayloads?: number;
}

/** An IKE SA as `pavise ipsec sas` shows it (also the --json shape). */
export interface IkeSaStatus {
  connection: string;
  state: string;
  initiator: boolean;
  spiI: string;
  spiR: string;
  local: string;
  remote: string;
  localId: string;
  remoteId: string;
  algorithms: string;
  ageSeconds: number;
  children: ChildSaStatus[];
}

export interface ChildSaStatus {
  name: string;
  spiIn: string;
  spiOut: string;
  mode: string;
  encap: boolean;
  algorithms: string;
  localTs: string[];
  remoteTs: string[];
  /** From the datapath; absent when the datapath does not know the SA. */
  counters: SaCounters | undefined;
}
