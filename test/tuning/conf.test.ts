// conf.test.ts — ksmtuned.conf and /etc/sysconfig/ksm as the scripts source them: KEY=value lines,
// comments, quotes, `${VAR:-default}` for empty values, bash's integer literals; errors name the line.
import { expect } from 'chai';
import { ConfError, parseShellAssignments } from '../../src/tuning/shell-conf.ts';
import { KSMTUNED_DEFAULTS, parseKsmtunedConf } from '../../src/tuning/ksmtuned-conf.ts';

/** The file Fedora and RHEL ship as /etc/ksmtuned.conf (every setting commented out). */
const SHIPPED = `# Configuration file for ksmtuned.

# How long ksmtuned should sleep between tuning adjustments
# KSM_MONITOR_INTERVAL=60

# Millisecond sleep between ksm scans for 16Gb server.
# Smaller servers sleep more, bigger sleep less.
# KSM_SLEEP_MSEC=10

# KSM_NPAGES_BOOST=300
# KSM_NPAGES_DECAY=-50
# KSM_NPAGES_MIN=64
# KSM_NPAGES_MAX=1250

# KSM_THRES_COEF=20
# KSM_THRES_CONST=2048

# uncomment the following if you want ksmtuned debug info

# LOGFILE=/var/log/ksmtuned
# DEBUG=1
`;

function errorOf(f: () => unknown): ConfError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ConfError);
    return e as ConfError;
  }
  throw new Error('expected a ConfError');
}

describe('ksmtuned.conf', () => {
  it('gives the script\'s defaults for the file the packages ship', () => {
    expect(parseKsmtunedConf(SHIPPED)).to.deep.equal(KSMTUNED_DEFAULTS);
  });

  it('reads KEY=value lines with quotes, export and trailing comments', () => {
    const c = parseKsmtunedConf([
      'KSM_MONITOR_INTERVAL=5',
      '  export KSM_NPAGES_BOOST="600"   # twice as fast',
      "KSM_NPAGES_MAX='2''500'",
      'LOGFILE="/var/log/ksm tuned.log"',
      'DEBUG=1',
      'SOMETHING_ELSE=ignored',
    ].join('\n'));
    expect(c.KSM_MONITOR_INTERVAL).to.equal(5);
    expect(c.KSM_NPAGES_BOOST).to.equal(600);
    expect(c.KSM_NPAGES_MAX).to.equal(2500);
    expect(c.LOGFILE).to.equal('/var/log/ksm tuned.log');
    expect(c.DEBUG).to.equal(true);
  });

  it('lets a later assignment of the same variable win, as sourcing does', () => {
    expect(parseKsmtunedConf('KSM_NPAGES_MIN=10\nKSM_NPAGES_MIN=20\n').KSM_NPAGES_MIN).to.equal(20);
  });

  it('takes the default for an empty value (${VAR:-default})', () => {
    expect(parseKsmtunedConf('KSM_NPAGES_DECAY=\nKSM_MONITOR_INTERVAL=""\n')).to.deep.equal(KSMTUNED_DEFAULTS);
  });

  it('reads integers as bash arithmetic does: negative, 0x hex and leading-0 octal', () => {
    const c = parseKsmtunedConf('KSM_NPAGES_DECAY=-25\nKSM_NPAGES_MAX=0x800\nKSM_NPAGES_MIN=010\n');
    expect([c.KSM_NPAGES_DECAY, c.KSM_NPAGES_MAX, c.KSM_NPAGES_MIN]).to.deep.equal([-25, 2048, 8]);
  });

  it('takes KSM_MONITOR_INTERVAL as sleep(1) does: fractions and s/m/h suffixes', () => {
    expect(parseKsmtunedConf('KSM_MONITOR_INTERVAL=2.5').KSM_MONITOR_INTERVAL).to.equal(2.5);
    expect(parseKsmtunedConf('KSM_MONITOR_INTERVAL=1m').KSM_MONITOR_INTERVAL).to.equal(60);
  });

  it('turns debugging on for any non-empty DEBUG, even 0 ([ -n "$DEBUG" ])', () => {
    expect(parseKsmtunedConf('DEBUG=0').DEBUG).to.equal(true);
    expect(parseKsmtunedConf('DEBUG=').DEBUG).to.equal(false);
  });

  describe('errors name the file and line', () => {
    it('refuses a value that is not an integer', () => {
      const e = errorOf(() => parseKsmtunedConf('# tuned\nKSM_NPAGES_BOOST=fast\n', '/etc/ksmtuned.conf'));
      expect(e.message).to.equal('/etc/ksmtuned.conf:2: KSM_NPAGES_BOOST=fast: not an integer');
      expect(e.line).to.equal(2);
    });

    it('refuses an octal literal with the digit 8, as bash does ("value too great for base")', () => {
      expect(errorOf(() => parseKsmtunedConf('KSM_NPAGES_MIN=08')).line).to.equal(1);
    });

    it('refuses a zero or malformed monitor interval', () => {
      expect(errorOf(() => parseKsmtunedConf('\n\nKSM_MONITOR_INTERVAL=0')).message).to.match(/:3: KSM_MONITOR_INTERVAL=0: must be more than 0/);
      expect(errorOf(() => parseKsmtunedConf('KSM_MONITOR_INTERVAL=soon')).message).to.match(/:1: KSM_MONITOR_INTERVAL=soon/);
    });

    it('refuses a line that is not an assignment', () => {
      expect(errorOf(() => parseShellAssignments('A=1\nKSM_NPAGES_MAX 1250\n', 'f')).message).to.equal('f:2: expected KEY=value, found "KSM_NPAGES_MAX 1250"');
    });

    it('refuses a bad variable name, an unterminated quote, an expansion, and words after the value', () => {
      expect(errorOf(() => parseShellAssignments('1KSM=2', 'f')).message).to.equal('f:1: "1KSM" is not a shell variable name');
      expect(errorOf(() => parseShellAssignments('X=1\nLOGFILE="/var/log/k', 'f')).message).to.equal('f:2: LOGFILE: unterminated double quote');
      expect(errorOf(() => parseShellAssignments("LOGFILE='/var", 'f')).message).to.equal('f:1: LOGFILE: unterminated single quote');
      expect(errorOf(() => parseShellAssignments('LOGFILE=$HOME/k', 'f')).message).to.match(/^f:1: LOGFILE: expansions/);
      expect(errorOf(() => parseShellAssignments('KSM_NPAGES_MAX=1250 2500', 'f')).message).to.match(/^f:1: KSM_NPAGES_MAX: unexpected "2500"/);
    });
  });
});
