import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';
import { formatSelector, matchesSelector, parseSelector } from './selector.ts';

describe('selectors', () => {
  it('parses every matcher kind, quotes and escapes, and prints them back', () => {
    const selector = parseSelector(`orderflow_x{a="1", b!='two', c=~"5..", d!~"a\\"b",}`);
    expect(selector).toEqual({
      metric: 'orderflow_x',
      matchers: [
        { label: 'a', op: '=', value: '1' },
        { label: 'b', op: '!=', value: 'two' },
        { label: 'c', op: '=~', value: '5..' },
        { label: 'd', op: '!~', value: 'a"b' },
      ],
    });
    expect(formatSelector(selector)).toBe('orderflow_x{a="1",b!="two",c=~"5..",d!~"a\\"b"}');
    expect(parseSelector(formatSelector(selector))).toEqual(selector);
    expect(formatSelector(parseSelector('up'))).toBe('up');
  });

  it('refuses what is not a selector, saying why', () => {
    expect(() => parseSelector('{a="b"}')).toThrow('must start with a metric name');
    expect(() => parseSelector('x{a}')).toThrow('expected =, !=, =~ or !~ after a');
    expect(() => parseSelector('x{a="b"')).toThrow('expected , or }');
    expect(() => parseSelector('x{a="b}')).toThrow('unterminated');
    expect(() => parseSelector('x{a=~"("}')).toThrow('invalid regular expression');
    expect(() => parseSelector('x[5m]')).toThrow('unexpected "[5m]"');
  });

  it('matches like Prometheus: anchored regexes, a missing label is the empty string', () => {
    const labels = { status: '503', route: '/v1/orders' };
    expect(matchesSelector(parseSelector('m{status=~"5.."}'), 'm', labels)).toBe(true);
    expect(matchesSelector(parseSelector('m{status=~"5"}'), 'm', labels)).toBe(false);
    expect(matchesSelector(parseSelector('m{status!~"2..|3.."}'), 'm', labels)).toBe(true);
    expect(matchesSelector(parseSelector('m{region=""}'), 'm', labels)).toBe(true);
    expect(matchesSelector(parseSelector('m{region!="eu"}'), 'm', labels)).toBe(true);
    expect(matchesSelector(parseSelector('m{route="/v1/orders"}'), 'other', labels)).toBe(false);
  });
});

describe('Prometheus durations', () => {
  it('parses and prints them', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1d')).toBe(86_400_000);
    for (const bad of ['', '5', '5 m', '1.5h', 'm', '30m1h']) expect(parseDuration(bad), bad).toBeUndefined();
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(90_500)).toBe('1m30s500ms');
  });
});
