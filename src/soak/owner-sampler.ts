/**
 * Samples the owner keys in etcd all through a soak, back to back: a failover package must
 * never have two (ownership.ts takes the key only while owners/<package>/ is empty). The reads
 * go through a node the current fault leaves alone (`avoid`).
 */
import { CHAOS_PACKAGES, type ChaosCluster } from "./chaos-cluster.js";
import { readClusterKeys } from "./cluster-keys-reader.js";
import { observerHost } from "./settle-wait.js";

export interface OwnerViolation {
  at: number;
  package: string;
  owners: string[];
}

export class OwnerSampler {
  /** Hosts the reads must not go through now. */
  avoid: string[] = [];
  samples = 0;
  readonly violations: OwnerViolation[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly cluster: ChaosCluster) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const keys = await readClusterKeys(
        this.cluster.lab,
        observerHost(this.cluster, this.avoid),
        this.cluster.name,
      ).catch(() => undefined);
      if (keys) {
        this.samples++;
        for (const pkg of CHAOS_PACKAGES) {
          const owners = keys.owners.get(pkg.name) ?? [];
          if (owners.length > 1) this.violations.push({ at: keys.at, package: pkg.name, owners });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
