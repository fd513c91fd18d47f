// workload-catalog.ts — owns the names of the workload guests (guests/workloads/<name>.ts), each one's
// default memory size, and the path of its program: what the host side needs to know about them
// without importing a guest program.

import { projectPath } from '../platform/project-root.ts';

/** The workload programs of guests/workloads, by name. */
export const WORKLOAD_NAMES = ['os-image', 'idle', 'web', 'db', 'jvm', 'random', 'volatile'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/** Bytes a workload maps when given neither size= nor pages= (each guest passes its own to the parser). */
export const WORKLOAD_DEFAULT_BYTES: Readonly<Record<WorkloadName, number>> = {
  'os-image': 8 * 2 ** 20, idle: 8 * 2 ** 20, web: 8 * 2 ** 20, db: 16 * 2 ** 20, jvm: 8 * 2 ** 20, random: 8 * 2 ** 20, volatile: 2 * 2 ** 20,
};

export function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

/** Absolute path of a workload program, for Host.launch. Throws for an unknown name. */
export function workloadPath(name: string): string {
  if (!isWorkloadName(name)) {
    throw new Error(`unknown workload ${JSON.stringify(name)} (known: ${WORKLOAD_NAMES.join(', ')})`);
  }
  return projectPath('guests', 'workloads', `${name}.ts`);
}
