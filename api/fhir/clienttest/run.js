// Drives fiveid's FHIR interface with fhir-kit-client, a FHIR client nobody
// here wrote: feed (ITI-104) -> PIXm (ITI-83) -> PDQm (ITI-78) -> $match
// (ITI-119). TestFHIRClient (cmd/fiveid) starts fiveid, registers two
// systems with a key each and runs this with:
//   FHIR_BASE   http://127.0.0.1:PORT/fhir
//   HOSP_KEY, CARE_KEY         the two systems' API keys
//   HOSP_SYSTEM, CARE_SYSTEM   their identifier system URIs
//   ID_SYSTEM, ID_NUMBER       a resident ID number and its system URI
// It exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('FHIR_BASE');
const hosp = new Client({ baseUrl: base, bearerToken: env('HOSP_KEY') });
const care = new Client({ baseUrl: base, bearerToken: env('CARE_KEY') });
const [hospSystem, careSystem] = [env('HOSP_SYSTEM'), env('CARE_SYSTEM')];
const [idSystem, idNumber] = [env('ID_SYSTEM'), env('ID_NUMBER')];

const patient = (name, extra = {}) => ({
  resourceType: 'Patient',
  name: [name],
  gender: 'female',
  birthDate: '1949-12-31',
  identifier: [{ system: idSystem, value: idNumber }],
  ...extra,
});

const steps = [];
const step = async (name, fn) => {
  await fn();
  steps.push(name);
};

let customer;

await step('metadata', async () => {
  const cs = await new Client({ baseUrl: base }).capabilityStatement();
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
});

await step('feed (ITI-104)', async () => {
  const p = await hosp.update({
    resourceType: 'Patient',
    searchParams: { identifier: `${hospSystem}|P001` },
    body: patient({ use: 'official', family: '欧阳', given: ['雪婧'] }),
  });
  assert.equal(p.resourceType, 'Patient');
  assert.equal(p.name[0].family, '欧阳');
  customer = p.id;
  const again = await care.update({
    resourceType: 'Patient',
    searchParams: { identifier: `${careSystem}|R-77` },
    body: patient({ text: '歐陽雪婧' }),
  });
  assert.equal(again.id, customer, 'the second system\'s record links to the same customer');
});

await step('read', async () => {
  const p = await hosp.read({ resourceType: 'Patient', id: customer });
  assert.equal(p.id, customer);
  assert.ok(p.identifier.some((i) => i.system === idSystem && i.value === idNumber));
});

await step('PIXm (ITI-83)', async () => {
  const out = await care.operation({
    resourceType: 'Patient', name: '$ihe-pix', method: 'GET',
    input: { sourceIdentifier: `${careSystem}|R-77`, targetSystem: hospSystem },
  });
  assert.equal(out.resourceType, 'Parameters');
  const ids = out.parameter.filter((p) => p.name === 'targetIdentifier').map((p) => p.valueIdentifier);
  assert.deepEqual(ids, [{ system: hospSystem, value: 'P001' }]);
  assert.equal(out.parameter.find((p) => p.name === 'targetId').valueReference.reference, `Patient/${customer}`);
  await assert.rejects(
    care.operation({ resourceType: 'Patient', name: '$ihe-pix', method: 'GET', input: { sourceIdentifier: `${careSystem}|nobody` } }),
    (err) => err.response.status === 404 && err.response.data.resourceType === 'OperationOutcome',
  );
});

await step('PDQm (ITI-78)', async () => {
  await hosp.update({
    resourceType: 'Patient',
    searchParams: { identifier: `${hospSystem}|P002` },
    body: { resourceType: 'Patient', name: [{ text: '张伟' }], gender: 'male', birthDate: '1980-01-02' },
  });
  const first = await hosp.search({
    resourceType: 'Patient',
    searchParams: { identifier: `${hospSystem}|P001,${hospSystem}|P002`, _count: 1 },
  });
  assert.equal(first.type, 'searchset');
  assert.equal(first.total, 2);
  assert.equal(first.entry.length, 1);
  const second = await hosp.nextPage({ bundle: first });
  assert.equal(second.entry.length, 1);
  assert.notEqual(second.entry[0].resource.id, first.entry[0].resource.id);
  const byName = await hosp.search({
    resourceType: 'Patient',
    searchParams: { family: '欧阳', given: '雪婧', birthdate: '1949-12-31', gender: 'female' },
  });
  assert.equal(byName.total, 1);
  assert.equal(byName.entry[0].resource.id, customer);
  const byForm = await hosp.search({
    resourceType: 'Patient',
    searchParams: { family: '欧阳', given: '雪婧', birthdate: '1949-12-31' },
    options: { postSearch: true },
  });
  assert.equal(byForm.entry[0].resource.id, customer, 'POST _search finds the same customer');
});

await step('$match (ITI-119)', async () => {
  const bundle = await care.operation({
    resourceType: 'Patient', name: '$match',
    input: {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: patient({ text: '欧阳雪婧' }) },
        { name: 'onlyCertainMatches', valueBoolean: true },
      ],
    },
  });
  assert.equal(bundle.type, 'searchset');
  const m = bundle.entry.find((e) => e.search.mode === 'match');
  assert.equal(m.resource.id, customer);
  assert.ok(m.search.score > 0.99 && m.search.score <= 1);
  const grade = m.search.extension.find((x) => x.url === 'http://hl7.org/fhir/StructureDefinition/match-grade');
  assert.equal(grade.valueCode, 'certain');
});

console.log(JSON.stringify({ ok: true, steps }));
