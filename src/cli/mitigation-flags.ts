// mitigation-flags.ts — owns the side-channel mitigation flags every host-starting command shares
// (docs/security.md): --mitigation none|vusion|zero-only and --ksm-domains GUEST=DOMAIN,...

import { Option, type Command } from 'commander';
import { parseKsmDomains, parseMitigation, type Mitigation } from '../ksm/merge-policy.ts';

export interface MitigationFlags {
  mitigation: Mitigation;
  ksmDomains?: Map<string, number> | 'per-guest';
}

export function addMitigationFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--mitigation <name>', 'side-channel mitigation of every merge engine: none, vusion (merged and unmerged pages fault and copy alike), zero-only (only all-0x00/0xff pages merge), domains (needs --ksm-domains)')
      .argParser((v) => parseMitigation(v)).default('none'))
    .option('--ksm-domains <list>', 'merge only within a domain, like salting: GUEST=DOMAIN,... (guest names as the command gives them; unlisted guests share domain 0), or per-guest (a domain for every guest)',
      (v) => (v.trim() === 'per-guest' ? 'per-guest' : parseKsmDomains(v)));
}

/** The host options the flags give; --mitigation domains without --ksm-domains is an error. */
export function hostMitigation(flags: MitigationFlags): { mitigation: Mitigation; ksmDomains?: Map<string, number> | 'per-guest' } {
  if (flags.mitigation === 'domains' && !flags.ksmDomains) throw new Error('--mitigation domains: name the domains with --ksm-domains GUEST=DOMAIN,...');
  return { mitigation: flags.mitigation, ksmDomains: flags.ksmDomains };
}
