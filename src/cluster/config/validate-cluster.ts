import type { ConfigProblem } from "../../util/errors.js";
import type { ClusterConfig } from "./model.js";
import { ProblemList } from "./raw-reader.js";
import { validateHooks } from "./validate-hooks.js";
import { validateApi } from "./validate-api.js";
import { validateDependencies } from "./validate-dependencies.js";
import { validateNetwork } from "./validate-network.js";
import { validatePackages } from "./validate-packages.js";
import { validateArp, validateTiming } from "./validate-timing.js";

/**
 * Checks a cluster configuration made in code or read from a file: what its values mean
 * together. Problems carry the key paths of the file (snake_case, e.g.
 * `packages[1].ip_address[0].address`); an empty list means valid.
 */
export function validateClusterConfig(config: ClusterConfig): ConfigProblem[] {
  const problems = new ProblemList();
  const prefixes = validateNetwork(config, problems);
  validateTiming(config.timing, problems);
  validateArp(config.arp, problems);
  validatePackages(config, prefixes, problems);
  validateDependencies(config, problems);
  validateHooks(config, problems);
  validateApi(config, problems);
  return problems.items;
}
