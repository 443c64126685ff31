// wrong: the lists come out in the maps' order, not sorted
// caught by: compareNamespaces
const shared: string[] = [];
const separate: string[] = [];
for (const type of new Set([...a.keys(), ...b.keys()])) {
  (a.get(type) !== undefined && a.get(type) === b.get(type) ? shared : separate).push(type);
}
return { shared, separate };
