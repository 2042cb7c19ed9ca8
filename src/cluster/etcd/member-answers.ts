import type { EtcdMemberAnswer } from "../../api/schema/view-types.js";
import type { EtcdClient } from "./client.js";

/**
 * Asks every configured etcd member for its status at once (what `pavise status` and the API's
 * etcd section show): a member that does not answer within `timeoutMs` is unreachable, with
 * the reason. Never throws.
 */
export function etcdMemberAnswers(
  client: EtcdClient,
  endpoints: readonly string[],
  timeoutMs = 1000,
): Promise<EtcdMemberAnswer[]> {
  return Promise.all(
    endpoints.map(async (endpoint): Promise<EtcdMemberAnswer> => {
      try {
        const s = await client.status(endpoint, timeoutMs);
        return { endpoint, reachable: true, memberId: s.memberId, leader: s.leader };
      } catch (err) {
        return { endpoint, reachable: false, error: (err as Error).message };
      }
    }),
  );
}
