/**
 * The one test suite every Datastore implementation passes. A test file calls
 * `describeDatastoreSuite(backend)` once for its database; each test gets a fresh, empty database.
 * Test code only: nothing in the server imports it.
 */
import { describe, before, after } from "node:test";
import { changeLogTests } from "./change-log-tests.js";
import { delegationRecordsTests } from "./delegation-records-tests.js";
import { delegationTests } from "./delegation-tests.js";
import { entryTests } from "./entry-tests.js";
import { journalTests } from "./journal-tests.js";
import { nodeTests } from "./node-tests.js";
import { schemaTests } from "./schema-tests.js";
import { suiteContext, type DatastoreTestBackend } from "./suite-support.js";

export {
  attestation,
  id,
  newEntry,
  rejectsWith,
  sel,
  type DatastoreTestBackend,
  type OpenOptions,
  type TestDatabase,
} from "./suite-support.js";

export function describeDatastoreSuite(backend: DatastoreTestBackend): void {
  describe(`Datastore on ${backend.name}`, () => {
    before(() => backend.setUp());
    after(() => backend.tearDown());
    const context = suiteContext(backend);
    entryTests(context);
    delegationTests(context);
    delegationRecordsTests(context);
    changeLogTests(context);
    nodeTests(context);
    journalTests(context);
    schemaTests(context);
  });
}
