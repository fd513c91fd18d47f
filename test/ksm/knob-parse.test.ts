// knob-parse.test.ts — the kstrto* errors that reach user space as they are (merge_across_nodes,
// max_page_sharing): EINVAL for junk, ERANGE for overflow, as measured on Linux 6.18.
import { expect } from 'chai';
import { kstrtointErrno, kstrtoulErrno } from '../../src/ksm/knob-parse.ts';

describe('kstrtoint/kstrtoul with the kernel\'s own errors', () => {
  it('kstrtoint: values, signs and one newline', () => {
    expect(kstrtointErrno('256')).to.equal(256);
    expect(kstrtointErrno('+3')).to.equal(3);
    expect(kstrtointErrno('-5')).to.equal(-5);
    expect(kstrtointErrno('7\n')).to.equal(7);
  });
  it('kstrtoint: ERANGE beyond int, EINVAL for junk', () => {
    expect(kstrtointErrno('2147483648')).to.equal('ERANGE');
    expect(kstrtointErrno('-2147483649')).to.equal('ERANGE');
    expect(kstrtointErrno('99999999999999999999x')).to.equal('ERANGE');
    for (const bad of ['abc', '', ' 1', '0x10', '1 ', '-', '+-1']) expect(kstrtointErrno(bad), JSON.stringify(bad)).to.equal('EINVAL');
  });
  it('kstrtoul: ERANGE at 2^64, EINVAL for a sign or junk', () => {
    expect(kstrtoulErrno('18446744073709551615')).to.equal(18446744073709551615);
    expect(kstrtoulErrno('18446744073709551616')).to.equal('ERANGE');
    expect(kstrtoulErrno('-1')).to.equal('EINVAL');
    expect(kstrtoulErrno('y')).to.equal('EINVAL');
  });
});
