// wrong: lets the raw ENOENT through, which names the folder but says nothing of a missing process
// caught by: readNamespaces
const dir = `/proc/${pid}/ns`;
const links: NamespaceLinks = new Map();
for (const name of await fs.readdir(dir)) links.set(name, await fs.readlink(`${dir}/${name}`));
if (links.size === 0) throw new Error('no namespaces');
return links;
