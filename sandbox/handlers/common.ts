/** Pieces shared by the restSearch endpoints. */
import { type MispHttpError, mispError } from '../errors.ts';
import { type ChunkWriter, JSON_CONTENT_TYPE } from '../http.ts';

/** AppController::restSearch rejects a GET that carries no parameter. */
export function getWithoutParameters(url: string): MispHttpError {
  return mispError(
    400,
    'Restsearch queries using GET and no parameters are not allowed. If you have passed parameters via a JSON body, make sure you use POST requests.',
    url,
  );
}

/** Returns the headers MISP 2.5.1 sends with a JSON restSearch reply. */
export function restSearchHeaders(resultCount: number): Record<string, string> {
  return {
    'Content-Type': JSON_CONTENT_TYPE,
    'X-Result-Count': String(resultCount),
    'X-Export-Module-Used': 'json',
    'X-Response-Format': 'json',
    'X-Skipped-Elements-Count': '0',
  };
}

/** Writes compact JSON elements separated by commas, one element at a time. */
export async function streamJsonList<T>(out: ChunkWriter, items: Iterable<T>, toJson: (item: T) => unknown): Promise<void> {
  let first = true;
  for (const item of items) {
    const text = JSON.stringify(toJson(item));
    await out.write(first ? text : `,${text}`);
    first = false;
  }
}
