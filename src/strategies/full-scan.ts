/**
 * The full scan: every attribute with to_ids set, with all of its sightings, read one attribute at
 * a time from restSearch pages. Its requests and time grow with the size of the instance. It keeps
 * only the attributes to demote and a bitset of the ids it has seen.
 */
import { evaluateSightings } from '../evaluate.ts';
import { IdSet } from '../id-set.ts';
import { toFlag, toId } from '../misp-types.ts';
import { type Candidate, type CollectStrategy, emptyReasonCounts, noteOrigins, originsToTrack } from './types.ts';

export const collectByFullScan: CollectStrategy = async (settings, { misp, logger }) => {
  const byReason = emptyReasonCounts();
  const origins = originsToTrack(settings);
  const candidates: Candidate[] = [];
  // An attribute can come twice: a page boundary can move while paging, and a page that failed
  // part-way is read again. The first copy is the one evaluated.
  const seen = new IdSet();

  for await (const attribute of misp.searchIdsAttributes(settings.pageSize)) {
    // MISP already filters both; a server or proxy that does not must not make us touch them.
    if (toFlag(attribute.deleted) || !toFlag(attribute.to_ids)) continue;

    const attributeId = toId(attribute.id);
    if (!seen.add(attributeId)) continue;

    noteOrigins(origins, attribute.Sighting ?? []);
    const decision = evaluateSightings(attribute.Sighting ?? [], settings);
    byReason[decision.reason]++;
    if (decision.demote) {
      // The sightings are no longer needed, and a popular indicator can have many.
      const { Sighting: _sightings, ...rest } = attribute;
      candidates.push({ attribute: rest, attributeId, eventId: toId(attribute.event_id), decision });
    }
  }

  logger.info(`Full scan: evaluated ${seen.size} attributes with to_ids set; ${candidates.length} to demote.`);
  return { candidates, evaluated: seen.size, byReason, invisibleSightings: 0, sightedAttributesNotFound: 0, origins };
};
