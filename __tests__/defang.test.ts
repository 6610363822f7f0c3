import { describe, expect, it } from 'vitest';
import { defang, defangText } from '../src/defang.ts';

describe('defang', () => {
  it.each([
    ['ip-dst', '198.51.100.7', '198[.]51[.]100[.]7'],
    ['domain', 'evil-domain.example', 'evil-domain[.]example'],
    ['hostname', 'mail.evil-domain.example', 'mail[.]evil-domain[.]example'],
    ['url', 'http://evil-domain.example/a.php?x=1', 'hxxp://evil-domain[.]example/a[.]php?x=1'],
    ['url https', 'https://evil-domain.example:8443/', 'hxxps://evil-domain[.]example:8443/'],
    ['url upper case', 'HTTPS://EVIL.EXAMPLE/', 'HxxPS://EVIL[.]EXAMPLE/'],
    ['url with user info', 'http://user@evil.example/', 'hxxp://user[@]evil[.]example/'],
    ['email-src', 'billing@evil-domain.example', 'billing[@]evil-domain[.]example'],
    ['hostname|port', 'evil-domain.example|8080', 'evil-domain[.]example|8080'],
    ['ip-dst|port', '198.51.100.7|443', '198[.]51[.]100[.]7|443'],
    ['ipv6', '2001:db8::1', '2001:db8::1'],
    ['md5', 'd41d8cd98f00b204e9800998ecf8427e', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['filename|md5', 'invoice.pdf.exe|d41d8cd98f00b204e9800998ecf8427e', 'invoice[.]pdf[.]exe|d41d8cd98f00b204e9800998ecf8427e'],
    ['text with a url', 'see http://a.example and https://b.example', 'see hxxp://a[.]example and hxxps://b[.]example'],
  ])('defangs %s', (_type, value, expected) => {
    expect(defang(value)).toBe(expected);
  });

  it.each([
    'hxxp://evil-domain[.]example/a[.]php',
    'billing[@]evil-domain[.]example',
    '198[.]51[.]100[.]7',
  ])('leaves defanged %s unchanged', (value) => {
    expect(defang(value)).toBe(value);
  });

  it('is idempotent', () => {
    for (const value of ['http://a.b@c.example/x.y', 'https://x.example', 'a@b.c', '1.2.3.4']) {
      expect(defang(defang(value))).toBe(defang(value));
    }
  });

  it('keeps http without a scheme separator', () => {
    expect(defang('httpd.conf')).toBe('httpd[.]conf');
  });
});

describe('defangText', () => {
  it('keeps full stops at the end of sentences', () => {
    expect(defangText('nothing was changed. Check the report.')).toBe('nothing was changed. Check the report.');
  });

  it('defangs indicators inside a message', () => {
    expect(defangText('GET https://misp.example.org/x failed for admin@example.org.')).toBe(
      'GET hxxps://misp[.]example[.]org/x failed for admin[@]example[.]org.',
    );
  });
});
