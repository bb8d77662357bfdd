// The load scenarios run the shipped twins next to their own.
export { default } from '../../twins/charger.ts'
