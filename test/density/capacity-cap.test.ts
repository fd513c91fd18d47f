// capacity-cap.test.ts — the default guest cap of capacity mode: the smallest of what the host memory
// could hold if KSM merged every page, what the real machine's free memory allows for guest threads,
// and the 512-guest ceiling.
import { expect } from 'chai';
import { defaultMaxGuests, GUEST_THREAD_BYTES, MAX_GUESTS_CEILING } from '../../src/density/capacity-cap.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('capacity mode: the default guest cap', () => {
  it('is 1 + (M − F)·S/F guests when host memory is the bound: the newest guest unmerged, the rest at 1/max_page_sharing of a frame per page', () => {
    const cap = defaultMaxGuests({ hostBytes: 64 * MiB, guestBytes: 8 * MiB, maxPageSharing: 2, machineFreeBytes: 1024 * GiB });
    expect(cap.memory_bound).to.equal(1 + (56 * 2) / 8);
    expect(cap.max_guests).to.equal(15);
    expect(cap.limited_by).to.equal('memory');
  });

  it('is a quarter of the machine\'s free memory at GUEST_THREAD_BYTES a guest when that is smaller', () => {
    const cap = defaultMaxGuests({ hostBytes: 512 * MiB, guestBytes: 8 * MiB, maxPageSharing: 256, machineFreeBytes: 4 * GiB });
    expect(cap.machine_bound).to.equal(GiB / GUEST_THREAD_BYTES);
    expect(cap.max_guests).to.equal(GiB / GUEST_THREAD_BYTES);
    expect(cap.limited_by).to.equal('machine');
  });

  it('never exceeds the 512-guest ceiling', () => {
    const cap = defaultMaxGuests({ hostBytes: 8 * GiB, guestBytes: 1 * MiB, maxPageSharing: 256, machineFreeBytes: 1024 * GiB });
    expect(cap.max_guests).to.equal(MAX_GUESTS_CEILING);
    expect(cap.limited_by).to.equal('ceiling');
  });

  it('lets a fleet of idle guests on 512 MiB go far past the 64 guests of the old fixed cap', () => {
    const cap = defaultMaxGuests({ hostBytes: 512 * MiB, guestBytes: 8 * MiB, maxPageSharing: 256, machineFreeBytes: 16 * GiB });
    expect(cap.max_guests).to.be.greaterThan(64);
  });

  it('is 1 when one guest is larger than the host', () => {
    expect(defaultMaxGuests({ hostBytes: 4 * MiB, guestBytes: 8 * MiB, maxPageSharing: 256, machineFreeBytes: 16 * GiB }).max_guests).to.equal(1);
  });
});
