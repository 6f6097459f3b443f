import type { ApiDeps } from '../../deps.ts';
import type { SecurityResponse } from '../response.ts';
import { blockIpByRule, markSuspicious } from './service.ts';

export { createIpGate, type IpGate } from './gate.ts';
export { parseCidr, type Cidr } from './cidr.ts';
export { IP_BLOCKS_CHANNEL } from './store.ts';
export type { BlockView } from './schemas.ts';

/** The blocklist's part of the security response port. `deps` is read at call time, as incidents' is. */
export function blockResponseParts(deps: () => ApiDeps): Pick<SecurityResponse, 'blockIp' | 'markSuspicious'> {
  return {
    blockIp: (input) => blockIpByRule(deps(), input),
    markSuspicious: (input) => markSuspicious(deps(), input),
  };
}
