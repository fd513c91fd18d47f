// prng.ts — the tests' seeded PRNG: the stress tools' mulberry32 (one implementation for both).
export { Prng as Mulberry32, mixSeed } from '../../src/platform/prng.ts';
