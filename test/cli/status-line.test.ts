// status-line.test.ts — the progress line: only on a terminal, rewritten in place, at most ten times
// a second, cut to the terminal's width, erased at the end.
import { expect } from 'chai';
import { statusLine } from '../../src/cli/status-line.ts';

function fakeTty(isTTY: boolean, columns = 40): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = { isTTY, columns, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('progress line', () => {
  it('writes nothing when the stream is not a terminal', () => {
    const { stream, writes } = fakeTty(false);
    const s = statusLine(true, stream);
    s.update('booting 4 guests');
    s.clear();
    expect(s.active).to.equal(false);
    expect(writes).to.deep.equal([]);
  });

  it('writes nothing when disabled (--quiet, --json -)', () => {
    const { stream, writes } = fakeTty(true);
    statusLine(false, stream).update('booting 4 guests');
    expect(writes).to.deep.equal([]);
  });

  it('rewrites the line in place and erases it at the end', () => {
    const { stream, writes } = fakeTty(true);
    const s = statusLine(true, stream);
    s.update('booting 4 guests');
    s.clear();
    expect(writes).to.deep.equal(['\r\x1b[2Kbooting 4 guests', '\r\x1b[2K']);
  });

  it('drops an update that follows the last one within 100 ms', () => {
    const { stream, writes } = fakeTty(true);
    const s = statusLine(true, stream);
    s.update('step 1');
    s.update('step 2');
    expect(writes).to.deep.equal(['\r\x1b[2Kstep 1']);
  });

  it('cuts a line longer than the terminal is wide, so it never wraps', () => {
    const { stream, writes } = fakeTty(true, 21);
    statusLine(true, stream).update('x'.repeat(50));
    expect(writes[0]).to.equal(`\r\x1b[2K${'x'.repeat(19)}…`);
  });

  it('takes 80 columns when the terminal reports none', () => {
    const { stream, writes } = fakeTty(true, 0);
    statusLine(true, stream).update('y'.repeat(100));
    expect(writes[0]).to.equal(`\r\x1b[2K${'y'.repeat(78)}…`);
  });
});
