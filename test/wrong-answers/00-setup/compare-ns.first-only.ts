// wrong: looks only at the first process's namespace types (a type only the second has is never counted)
// caught by: compareNamespaces
const shared: string[] = [];
const separate: string[] = [];
for (const type of [...a.keys()].sort()) {
  (a.get(type) === b.get(type) ? shared : separate).push(type);
}
return { shared, separate };
