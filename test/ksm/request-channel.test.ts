// request-channel.test.ts — the sysfs request channel between knob writers and ksmd (KsmState):
// a request is taken only once both its op and its argument are published, each request is
// answered by its own sequence number, and a writer that died holding the lock does not block
// later writes (issue 11, findings 2 and 3). Interleavings of it are in test/stress/protocol-races.
import { expect } from 'chai';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KC_REQ_ACK, KC_REQ_ARG, KC_REQ_LOCK, KC_REQ_OP, KC_REQ_SEQ, KsmState, NON_GUEST_OWNER, REQ_SET_RUN } from '../../src/ksm/ksm-state.ts';

describe('sysfs request channel', () => {
  it('a fresh channel has nothing pending, even once a writer has stored its op', () => {
    const s = KsmState.create();
    expect(s.pendingRequest()).to.equal(undefined);
    // The old writer's first store: with "done = 0" from the start, ksmd took [run, 0] here.
    Atomics.store(s.control, KC_REQ_OP, REQ_SET_RUN);
    expect(s.pendingRequest()).to.equal(undefined);
  });

  it('ksmd takes no request while its sequence number is odd (op and argument still being stored)', () => {
    const s = KsmState.create();
    Atomics.store(s.control, KC_REQ_SEQ, 1);
    Atomics.store(s.control, KC_REQ_OP, REQ_SET_RUN);
    Atomics.store(s.control, KC_REQ_ARG, 1);
    expect(s.pendingRequest()).to.equal(undefined);
    Atomics.store(s.control, KC_REQ_SEQ, 2);
    expect(s.pendingRequest()).to.deep.equal([REQ_SET_RUN, 1]);
  });

  it('a request is taken with the argument published with it, answered once, by its sequence number', async () => {
    const s = KsmState.create();
    const reply = s.request(REQ_SET_RUN, 1); // publishes before its first await
    expect(s.pendingRequest()).to.deep.equal([REQ_SET_RUN, 1]);
    s.answer(0);
    expect(await reply).to.equal(0);
    expect(Atomics.load(s.control, KC_REQ_ACK)).to.equal(Atomics.load(s.control, KC_REQ_SEQ));
    expect(s.pendingRequest()).to.equal(undefined);
    expect(s.requestLockHolder()).to.equal(0);
  });

  it('a second request takes the next sequence number and carries its own argument', async () => {
    const s = KsmState.create();
    const first = s.request(REQ_SET_RUN, 2);
    s.pendingRequest();
    s.answer(0);
    await first;
    const second = s.request(REQ_SET_RUN, 0);
    expect(s.pendingRequest()).to.deep.equal([REQ_SET_RUN, 0]);
    s.answer(-16);
    expect(await second).to.equal(-16);
    expect(Atomics.load(s.control, KC_REQ_SEQ)).to.equal(4);
  });

  it('holds the lock under the writer\'s owner token while the request is out', () => {
    const s = KsmState.create();
    void s.request(REQ_SET_RUN, 1);
    expect(s.requestLockHolder()).to.equal(s.owner);
    expect(s.owner).to.be.at.least(NON_GUEST_OWNER); // the test's thread is no guest
    s.pendingRequest();
    s.answer(0);
  });

  it('a guest killed holding the request lock: the host\'s report of its exit releases the lock', () => {
    const s = KsmState.create();
    const engine = new KsmEngine(PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 }), s);
    Atomics.store(s.control, KC_REQ_LOCK, 7); // guest pid 7 died inside requestSync
    engine.guestExited(8);
    expect(s.requestLockHolder(), 'another guest\'s exit leaves the lock alone').to.equal(7);
    engine.guestExited(7);
    expect(s.requestLockHolder()).to.equal(0);
  });

  it('a knob write waiting on a lock nobody releases fails with an error naming the holder', () => {
    const s = KsmState.create();
    Atomics.store(s.control, KC_REQ_LOCK, 7);
    expect(() => s.requestSync(REQ_SET_RUN, 1, 20)).to.throw(/request lock still held by guest pid 7 after 20 ms/);
    expect(s.requestLockHolder()).to.equal(7);
  });
});
