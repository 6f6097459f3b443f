import { z } from 'zod';
import { text } from '../../schemas/text.ts';
import { parseCidr } from './cidr.ts';

// Browser-safe (the SPA's add form validates with these): no database or node imports here.
export const BLOCK_STATUSES = ['active', 'expired', 'removed'] as const;
export type BlockStatus = (typeof BLOCK_STATUSES)[number];

/** An address or a CIDR, IPv4 or IPv6; the service stores its normal form (see cidr.ts). */
const ipOrCidr = text()
  .trim()
  .min(1)
  .max(64)
  .refine((v) => parseCidr(v) !== null, { message: 'Not an IP address or CIDR (e.g. 203.0.113.7, 198.51.100.0/24, 2001:db8::/32)' });

export const blocksListInput = z
  .strictObject({
    /** 'active' (default 'all'): only what is enforced now. */
    status: z.enum(['active', 'all']).optional(),
  })
  .optional();
export const blockAddInput = z.strictObject({
  ip: ipOrCidr,
  reason: text().trim().min(1).max(500),
  /** Absent or null: permanent. Must be in the future. */
  expiresAt: z.iso.datetime({ offset: true }).nullish(),
});
export const blockRemoveInput = z.strictObject({ ip: ipOrCidr });

export type BlocksListInput = z.infer<typeof blocksListInput>;
export type BlockAddInput = z.infer<typeof blockAddInput>;

export interface BlockView {
  id: string;
  /** Normal form: '203.0.113.7/32', '198.51.100.0/24', '2001:db8::/32'. */
  cidr: string;
  reason: string;
  /** 'rule:<detection rule>' or 'user:<id>'. */
  source: string;
  createdBy: { id: string; email: string | null } | null;
  incidentId: string | null;
  createdAt: string;
  /** null: permanent. */
  expiresAt: string | null;
  removedAt: string | null;
  removedBy: { id: string; email: string | null } | null;
  status: BlockStatus;
}
