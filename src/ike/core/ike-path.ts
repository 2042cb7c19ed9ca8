/** Where messages of an IKE SA travel: addresses and UDP ports of both ends. */
export interface IkePath {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** A message to send on a path. */
export interface Outgoing {
  path: IkePath;
  message: Uint8Array;
}
