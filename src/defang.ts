/**
 * Defangs indicator values for human-readable reports, so that mail clients and GitHub neither
 * link nor prefetch them and a reader cannot open one by accident. The convention:
 *
 * - the scheme `http` becomes `hxxp` and `https` becomes `hxxps`, wherever `://` follows;
 * - every `.` becomes `[.]`;
 * - every `@` becomes `[@]`;
 * - `://` and everything else stay as they are.
 *
 * So `https://evil.example/a.php` becomes `hxxps://evil[.]example/a[.]php` and `198.51.100.7`
 * becomes `198[.]51[.]100[.]7`. The rule ignores the attribute type: a dot in a file name
 * or in free text is defanged too. The function is idempotent, because `[.]` and `[@]` are
 * matched as a whole and left unchanged.
 */
/**
 * Defangs indicators inside prose, such as an error message that quotes a URL: the same rules,
 * but only for a `.` or `@` between two letters or digits, so that the full stop ending a
 * sentence stays a full stop.
 */
export function defangText(text: string): string {
  return text
    .replace(/\b(h)tt(ps?)(?=:\/\/)/gi, '$1xx$2')
    .replace(/(?<=[A-Za-z0-9_-])[.@](?=[A-Za-z0-9_-])/g, (character) => `[${character}]`);
}

export function defang(value: string): string {
  return value
    .replace(/\b(h)tt(ps?)(?=:\/\/)/gi, '$1xx$2')
    .replace(/\[\.\]|\./g, '[.]')
    .replace(/\[@\]|@/g, '[@]');
}
