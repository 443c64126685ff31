// wrong: reports every failure as a missing process: a process it may not read (EACCES) is called gone
// caught by: readNamespaces
const dir = `/proc/${pid}/ns`;
const links: NamespaceLinks = new Map();
try {
  for (const name of (await fs.readdir(dir)).sort()) links.set(name, await fs.readlink(`${dir}/${name}`));
} catch {
  throw new Error(`no process ${pid}: ${dir} does not exist`);
}
return links;
