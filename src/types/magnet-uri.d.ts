// The parts of magnet-uri 7 we use (the package ships no types).
declare module 'magnet-uri' {
  export interface MagnetData {
    infoHash?: string
    infoHashV2?: string
    dn?: string | string[]
    tr?: string | string[]
    xt?: string | string[]
    announce?: string[]
    name?: string | string[]
    [key: string]: unknown
  }
  export function decode (uri: string): MagnetData
  export function encode (data: { infoHash?: string, name?: string, announce?: string[], xt?: string | string[], dn?: string, tr?: string[] }): string
  const magnet: typeof decode & { decode: typeof decode, encode: typeof encode }
  export default magnet
}
