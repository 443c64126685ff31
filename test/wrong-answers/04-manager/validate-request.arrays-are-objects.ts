// wrong: typeof [] is "object": an array body gets through the first check
// caught by: checkFields: 
if (typeof body !== 'object' || body === null) throw badRequest(`${what} must be a JSON object`);
const fields = body as Record<string, unknown>;
for (const key of Object.keys(fields)) {
  if (!Object.hasOwn(schema, key)) throw badRequest(`unknown field "${key}" in ${what} (known: ${Object.keys(schema).join(', ')})`);
}
for (const [key, rule] of Object.entries(schema)) {
  if (fields[key] === undefined) {
    if (rule.required) throw badRequest(`missing field "${key}" in ${what}`);
    continue;
  }
  if (!hasType(fields[key], rule.type)) throw badRequest(`field "${key}" must be a ${rule.type}, not ${JSON.stringify(fields[key])}`);
}
