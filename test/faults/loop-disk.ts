/**
 * A real disk that fails: a 16 MiB ext4 image on a loop device, mounted with errors=remount-ro.
 * breakDown() makes the kernel record a file-system error (`/sys/fs/ext4/<dev>/trigger_fs_error`),
 * and ext4 turns itself read-only (emergency_ro) exactly as on a failing disk: writes to files
 * already open fail with EROFS, and `mount -o remount,rw` is refused. mend() does what an admin
 * does: unmount (lazily, as a process may still hold a file), e2fsck, mount again on the same path.
 *
 * Needs root, loop devices, mkfs.ext4 and e2fsck; create() says why it cannot when one is missing.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { stdio: 'pipe' }).toString().trim();
}

function why(error: unknown): string {
  return ((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim().split('\n')[0] ?? '';
}

export class LoopDisk {
  private mounted = false;

  private constructor(
    readonly mountPoint: string,
    private readonly image: string,
    readonly device: string,
  ) {}

  /** A fresh file system mounted on `mountPoint` (an empty directory), or why there cannot be one here. */
  static create(mountPoint: string): LoopDisk | string {
    if (process.getuid?.() !== 0) return 'not root (loop devices and mount need root)';
    const image = `${mountPoint}.img`;
    let device: string | undefined;
    try {
      fs.writeFileSync(image, '');
      fs.truncateSync(image, 16 * 1024 * 1024);
      run('mkfs.ext4', ['-q', '-F', image]);
      device = run('losetup', ['-f', '--show', image]);
      const disk = new LoopDisk(mountPoint, image, device);
      disk.mount();
      if (!fs.existsSync(disk.triggerFile())) {
        disk.dispose();
        return `the kernel offers no ${disk.triggerFile()} (ext4 error injection)`;
      }
      return disk;
    } catch (error) {
      if (device) execFileSync('losetup', ['-d', device], { stdio: 'pipe' });
      fs.rmSync(image, { force: true });
      return `cannot set up an ext4 loop device (${why(error)})`;
    }
  }

  private triggerFile(): string {
    return path.join('/sys/fs/ext4', path.basename(this.device), 'trigger_fs_error');
  }

  private mount(): void {
    run('mount', ['-o', 'errors=remount-ro', this.device, this.mountPoint]);
    this.mounted = true;
  }

  /** The mount options the kernel shows now (e.g. `rw,...,emergency_ro`). */
  options(): string {
    const line = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((entry) => entry.split(' ')[1] === this.mountPoint);
    return line?.split(' ')[3] ?? '(not mounted)';
  }

  /** A file-system error: ext4 turns the mount read-only, as a failing disk would make it. */
  breakDown(): void {
    fs.writeFileSync(this.triggerFile(), '1');
    if (!/(^|,)(ro|emergency_ro)(,|$)/.test(this.options())) throw new Error(`the loop mount did not turn read-only: ${this.options()}`);
  }

  /**
   * What an admin does: unmount (lazily: a process may hold a file open), check and repair, mount
   * again on the same path. e2fsck refuses (and this throws) while anything still holds the old
   * mount open: a journal handle left open on the sick disk would show here.
   */
  mend(): void {
    run('umount', ['-l', this.mountPoint]);
    this.mounted = false;
    try {
      execFileSync('e2fsck', ['-fy', this.device], { stdio: 'pipe' });
    } catch (error) {
      // 1 and 2: errors corrected; 4 and up: not.
      const status = (error as { status?: number }).status ?? 8;
      if (status >= 4) throw new Error(`e2fsck could not repair ${this.device} (exit ${status}): ${why(error)}`);
    }
    this.mount();
  }

  /** Unmounts (lazily), frees the loop device and deletes the image; safe to call more than once. */
  dispose(): void {
    if (this.mounted) {
      execFileSync('umount', ['-l', this.mountPoint], { stdio: 'pipe' });
      this.mounted = false;
    }
    try {
      // A device still held (a lazy unmount not finished) is freed by the kernel once released.
      execFileSync('losetup', ['-d', this.device], { stdio: 'pipe' });
    } catch {
      // Already detached.
    }
    fs.rmSync(this.image, { force: true });
  }
}
