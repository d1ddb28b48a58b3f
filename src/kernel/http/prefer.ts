/**
 * RFC 7240 `Prefer` header: `Prefer: wait=10`, possibly among other preferences
 * (`respond-async, wait=10`) or with parameters (`wait=10; foo`). Preferences a server does not
 * understand are ignored, so a malformed one yields undefined rather than an error.
 */
export function parsePreferWait(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  for (const preference of text.split(',')) {
    const token = preference.split(';', 1)[0]!.trim();
    const eq = token.indexOf('=');
    if (eq === -1 || token.slice(0, eq).trim().toLowerCase() !== 'wait') continue;
    let value = token.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    // delta-seconds (RFC 9111 §1.2.2): digits only.
    if (/^\d{1,9}$/.test(value)) return Number(value);
    return undefined;
  }
  return undefined;
}
