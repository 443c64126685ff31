// wrong: reads /proc/self whatever pid it is given
// caught by: readNamespaces
const dir = `/proc/self/ns`;
const links: NamespaceLinks = new Map();
try {
  await fs.access(`/proc/${pid}`);
  for (const name of (await fs.readdir(dir)).sort()) links.set(name, await fs.readlink(`${dir}/${name}`));
} catch (error) {
  throw new Error(`no process ${pid}: ${(error as Error).message}`);
}
return links;
